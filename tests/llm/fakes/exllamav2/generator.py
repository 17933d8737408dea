import time


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

    def __init__(self, input_ids, max_new_tokens, gen_settings=None, stop_conditions=(),
                 decode_special_tokens=False, **kwargs):
        self.sequences = [_Seq(input_ids)]
        self.max_new_tokens = max_new_tokens
        self.stop_strings = [s for s in stop_conditions if isinstance(s, str)]
        self.stop_tokens = [s for s in stop_conditions if isinstance(s, int)]
        self.new_tokens = 0
        self.cached_pages = 0
        self.cached_tokens = 0
        self.text = ""


class ExLlamaV2DynamicGenerator:
    def __init__(self, model, cache, tokenizer, draft_model=None, draft_cache=None,
                 use_ngram_draft=False, paged=True, max_batch_size=None, **kwargs):
        assert not paged, "the fake has no flash-attn: paged mode must be off"
        self.page_size = cache.max_seq_len
        self.previous = []
        self.jobs = []
        self.use_ngram_draft = use_ngram_draft
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

    def iterate(self):
        if not self.jobs:
            return []
        job = self.jobs[0]
        ids = job.sequences[0].input_ids
        if job.new_tokens == 0 and not job.text:
            common = 0
            for a, b in zip(self.previous, ids):
                if a != b:
                    break
                common += 1
            job.cached_tokens = min(common, len(ids) - 1)
            self.previous = list(ids)
        word = ExLlamaV2DynamicJob.TEXT[job.new_tokens % 10]
        piece = (" " if job.new_tokens else "") + word
        job.new_tokens += 1
        result = {"job": job, "stage": "streaming", "eos": False, "serial": 0}
        stop = next((s for s in job.stop_strings if s in job.text + piece), None)
        if stop is not None:
            piece = (job.text + piece)[: (job.text + piece).index(stop)][len(job.text):]
        job.text += piece
        if piece:
            result["text"] = piece
        if stop is not None or job.new_tokens >= job.max_new_tokens:
            self.jobs.remove(job)
            result.update(eos=True, eos_reason="stop_string" if stop else "max_new_tokens",
                          full_completion=job.text, new_tokens=job.new_tokens,
                          prompt_tokens=len(ids), time_enqueued=0.001, time_prefill=0.01,
                          time_generate=0.02 * job.new_tokens, cached_pages=0,
                          cached_tokens=job.cached_tokens)
        return [{"job": "another job", "stage": "streaming", "text": "noise", "eos": False},
                result]
