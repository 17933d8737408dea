"""The pipeline reads what the answering model can do from the chat model it is given: the
bundled model's capabilities switch the LLM steps off, a model without any gets them all."""

from __future__ import annotations

from pipeline.fakes import FakeSearcher, TaskFakeChatModel, make_hits
from ragchat.config import load_settings
from ragchat.models.capabilities import DEFAULT, DEMO
from ragchat.pipeline.factory import open_pipeline


class DemoFake(TaskFakeChatModel):
    """The fake model, carrying the bundled model's capabilities as BackendChatModel does."""

    @property
    def capabilities(self):
        return DEMO


def pipeline_for(model, tmp_path):
    searcher = FakeSearcher(make_hits(str(tmp_path)))
    return open_pipeline(load_settings(), persistent=False, require_index=False,
                         chat_model=(model, None), opener=lambda _s, _c: searcher)


def test_the_demo_models_capabilities_reach_the_pipeline(tmp_path):
    pipeline = pipeline_for(DemoFake(replies={}, calls=[]), tmp_path)
    try:
        assert pipeline.capabilities is DEMO
        params = pipeline.params
        assert (params.llm_grade, params.llm_rewrite, params.max_new_tokens,
                params.max_paragraphs, params.quote_thin_answers, params.writes_cjk) == (
            False, False, 192, 1, True, False)
    finally:
        pipeline.close()


def test_a_model_without_capabilities_gets_every_llm_step(tmp_path):
    pipeline = pipeline_for(TaskFakeChatModel(replies={}, calls=[]), tmp_path)
    try:
        assert pipeline.capabilities is DEFAULT
        assert pipeline.params.llm_grade and pipeline.params.llm_rewrite
        assert pipeline.params.max_new_tokens == 512 and pipeline.params.max_paragraphs == 0
    finally:
        pipeline.close()
