import time

import torch


class ExLlamaV2Sampler:
    class Settings:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

        @staticmethod
        def greedy(**kwargs):
            return ExLlamaV2Sampler.Settings(top_k=1, **kwargs)


class _Seq:
    def __init__(self, ids):
        self.input_ids = ids[0].tolist()


class ExLlamaV2DynamicJob:
    TEXT = "one two three four five six seven eight nine ten".split()
    # after this many words the model samples <|im_end|> (None: it never does)
    EOS_AFTER = None

    def __init__(self, input_ids, max_new_tokens, gen_settings=None, stop_conditions=(),
                 decode_special_tokens=False, identifier=None, **kwargs):
        self.sequences = [_Seq(input_ids)]
        self.max_new_tokens = max_new_tokens
        self.stop_strings = [s for s in stop_conditions if isinstance(s, str)]
        self.stop_tokens = [s for s in stop_conditions if isinstance(s, int)]
        self.identifier = identifier
        self.seed = kwargs.get("seed")  # the real job seeds its sampler with it (None: random)
        self.new_tokens = 0
        self.cached_pages = 0
        self.cached_tokens = 0
        self.text = ""
        self.held = ""


class ExLlamaV2DynamicGenerator:
    """Like the real one: the stop token counts in new_tokens and its text stays in
    result["held"]; with drafting a job ends at max_new_tokens - num_draft_tokens; the word
    before the stop token is held back (as a partial character would be) and comes in
    "held" only."""

    def __init__(self, model, cache, tokenizer, draft_model=None, draft_cache=None,
                 use_ngram_draft=False, paged=True, max_batch_size=None, **kwargs):
        assert not paged, "the fake has no flash-attn: paged mode must be off"
        self.page_size = cache.max_seq_len
        self.previous = []
        self.jobs = []
        self.use_ngram_draft = use_ngram_draft
        self.num_draft_tokens = 4 if use_ngram_draft else 0
        self.cancelled = []

    def warmup(self):
        pass

    def enqueue(self, job):
        job.time_enqueue = time.time()
        self.jobs.append(job)

    def cancel(self, job):
        self.cancelled.append(job)
        self.jobs.remove(job)

    def num_remaining_jobs(self):
        return len(self.jobs)

    def _match(self, job):
        ids = job.sequences[0].input_ids
        common = 0
        for a, b in zip(self.previous, ids):
            if a != b:
                break
            common += 1
        job.cached_tokens = min(common, len(ids) - 1)
        self.previous = list(ids)

    def _final(self, job, result, reason, **extra):
        self.jobs.remove(job)
        result.update(eos=True, eos_reason=reason, full_completion=job.text,
                      new_tokens=job.new_tokens, prompt_tokens=len(job.sequences[0].input_ids),
                      time_enqueued=0.001, time_prefill=0.01,
                      time_generate=0.02 * max(job.new_tokens - 1, 0), cached_pages=0,
                      cached_tokens=job.cached_tokens, **extra)
        return result

    def iterate(self):
        if not self.jobs:
            return []
        job = self.jobs[0]
        if job.new_tokens == 0 and not job.text:
            self._match(job)
        result = {"job": job, "stage": "streaming", "eos": False, "serial": 0,
                  "identifier": job.identifier}
        job.new_tokens += 1
        result["token_ids"] = torch.tensor([[100 + job.new_tokens]])
        eos_after = ExLlamaV2DynamicJob.EOS_AFTER
        if eos_after is not None and job.new_tokens == eos_after + 1 and 2 in job.stop_tokens:
            result["token_ids"] = torch.tensor([[2]])
            held = {"text": job.held} if job.held else {}
            job.text += job.held
            return [self._final(job, result, "stop_token", held=held)]
        word = ExLlamaV2DynamicJob.TEXT[(job.new_tokens - 1) % 10]
        piece = (" " if job.new_tokens > 1 else "") + word
        stop = next((s for s in job.stop_strings if s in job.text + piece), None)
        if stop is not None:
            piece = (job.text + piece)[: (job.text + piece).index(stop)][len(job.text):]
        if eos_after is not None and job.new_tokens == eos_after and stop is None:
            job.held = piece  # held back, as a partial character would be
        else:
            job.text += piece
            if piece:
                result["text"] = piece
        limit = job.max_new_tokens - self.num_draft_tokens
        if stop is None and job.new_tokens >= limit and job.held:
            result["text"] = result.get("text", "") + job.held
            job.text, job.held = job.text + job.held, ""
        if stop is not None or job.new_tokens >= limit:
            return [self._final(job, result, "stop_string" if stop else "max_new_tokens")]
        return [{"job": "another job", "stage": "streaming", "text": "noise", "eos": False},
                result]
