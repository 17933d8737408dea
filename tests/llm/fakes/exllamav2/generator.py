"""The dynamic generator's API as exllamav2 0.3.2 has it (generator/dynamic.py), minus the model.

What ragchat relies on follows the real one: `enqueue` prepares a job (pages it needs, an
AssertionError when it can never fit) and puts it in `pending_jobs`; `iterate()` starts
pending jobs while the batch has room (`max_batch_size`) and pages are free ("started"
results), then advances every active job by one token in one pass (one "streaming" result
each, in `active_jobs` order); a job that ends gets a final result (eos, eos_reason,
new_tokens counting the stop token, held text, timings, cached pages and tokens) and its pages
are freed; `cancel(job)` takes a job off either list and frees its pages (a job in neither is
ignored); `num_remaining_jobs()` counts both lists. Paged mode needs flash-attn
(`attn.has_flash_attn_with_paged`) and hashes full 256-token prompt pages, so a later job
reuses the pages of an earlier prompt; unpaged mode has one page (the whole cache), runs one
job at a time and matches a prompt against the previous job's tokens.

The "model" writes the words of a fixed text, one token per word. Knobs for tests:
`ExLlamaV2DynamicJob.EOS_AFTER` (the model samples <|im_end|> after that many words),
`ExLlamaV2DynamicGenerator.HOLD_FOR_JOBS` (paged: the first decoding pass waits until that
many jobs are in the generator, as a slow prefill would let them arrive; HOLD_S at most) and
`FAIL_AT_STEP` (the n-th decoding pass raises, as a CUDA error would).
"""

import hashlib
import time

import torch

PAGED_PAGE_SIZE = 256


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

    def __init__(self, input_ids, max_new_tokens, min_new_tokens=0, max_skips=4,
                 gen_settings=None, seed=None, stop_conditions=None,
                 decode_special_tokens=False, return_top_tokens=0, return_logits=False,
                 return_probs=False, filters=None, filter_prefer_eos=False,
                 token_healing=False, identifier=None, banned_strings=None, embeddings=None,
                 **kwargs):
        assert input_ids.shape[-1] > 0, "Input IDs cannot be empty."
        self.sequences = [_Seq(input_ids)]
        self.max_new_tokens = max_new_tokens
        conditions = stop_conditions or ()
        for c in conditions:
            if not isinstance(c, (int, str)):
                raise ValueError("Unsupported type in stop_conditions")
        self.stop_strings = [s for s in conditions if isinstance(s, str)]
        self.stop_tokens = [s for s in conditions if isinstance(s, int)]
        self.identifier = identifier
        self.seed = seed  # the real job seeds its sampler with it (None: random)
        self.serial_number = None
        self.new_tokens = 0
        self.cached_pages = 0
        self.cached_tokens = 0
        self.pages = 0  # pages held while active
        self.text = ""
        self.held = ""
        self.started = False

    def pages_needed(self, page_size):
        total = len(self.sequences[0].input_ids) + self.max_new_tokens
        return (total + page_size - 1) // page_size


class ExLlamaV2DynamicGenerator:
    """Like the real one: the stop token counts in new_tokens and its text stays in
    result["held"]; with drafting a job ends at max_new_tokens - num_draft_tokens; the word
    before the stop token is held back (as a partial character would be) and comes in
    "held" only."""

    HOLD_FOR_JOBS = 0
    HOLD_S = 10.0
    FAIL_AT_STEP = None

    def __init__(self, model, cache, tokenizer, max_batch_size=None, max_seq_len=None,
                 max_chunk_size=None, max_q_size=8, draft_model=None, draft_cache=None,
                 num_draft_tokens=4, use_ngram_draft=False, max_ngram=4,
                 max_sampling_threads=16, min_sampling_threads=3, paged=True,
                 filter_background_eval=True, **kwargs):
        if paged:
            from exllamav2 import attn

            assert attn.has_flash_attn_with_paged, \
                "Paged attention required Flash Attention 2.5.7 or later"
            assert not model.config.no_flash_attn, \
                "Paged mode requires flash-attn, but flash-attn is disabled in model config."
        self.paged = paged
        self.max_batch_size = max_batch_size or 16
        self.page_size = PAGED_PAGE_SIZE if paged else cache.max_seq_len
        assert cache.max_seq_len % PAGED_PAGE_SIZE == 0
        self.max_pages = max(cache.max_seq_len // self.page_size, 1)
        self.use_ngram_draft = use_ngram_draft
        self.num_draft_tokens = num_draft_tokens if (draft_model or use_ngram_draft) else 0
        self.pending_jobs = []
        self.active_jobs = []
        self.job_serial = 0
        self.free_pages = self.max_pages
        self.page_hashes = set()  # full prompt pages whose keys/values the cache holds
        self.previous = []  # unpaged: the last job's tokens
        self.cancelled = []
        self.batches = []  # how many jobs each decoding pass advanced together
        self.enqueued = []
        self.steps = 0
        self.hold_since = None

    # the queue

    @property
    def jobs(self):
        return self.pending_jobs + self.active_jobs

    @property
    def referenced_pages(self):
        return self.max_pages - self.free_pages

    def warmup(self):
        pass

    def num_remaining_jobs(self):
        return len(self.pending_jobs) + len(self.active_jobs)

    def enqueue(self, job):
        if isinstance(job, list):
            return [self.enqueue(j) for j in job]
        needed = job.pages_needed(self.page_size)
        assert needed <= self.max_pages, \
            f"Job requires {needed} pages (only {self.max_pages} available) and cannot be enqueued."
        job.serial_number = self.job_serial
        self.job_serial += 1
        job.time_enqueue = time.time()
        self.pending_jobs.append(job)
        self.enqueued.append(job)
        return job.serial_number

    def cancel(self, job):
        if job in self.pending_jobs:
            self.pending_jobs.remove(job)
        elif job in self.active_jobs:
            self._free(job)
        else:
            return
        self.cancelled.append(job)

    def clear_queue(self):
        for job in list(self.active_jobs):
            self._free(job)
        self.pending_jobs.clear()

    def _free(self, job):
        self.active_jobs.remove(job)
        self.free_pages += job.pages
        job.pages = 0

    # one pass

    def iterate(self):
        results = []
        self._start_jobs(results)
        if not self.active_jobs or self._holding():
            return results
        self.steps += 1
        if self.FAIL_AT_STEP == self.steps:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        self.batches.append(len(self.active_jobs))
        if not self.paged:  # another job's result, which a reader must skip
            results.append({"job": "another job", "stage": "streaming", "text": "noise",
                            "eos": False})
        for job in list(self.active_jobs):
            results.append(self._advance(job))
        return results

    def _holding(self):
        if not self.paged or self.steps or self.num_remaining_jobs() >= self.HOLD_FOR_JOBS:
            return False
        self.hold_since = self.hold_since or time.monotonic()
        return time.monotonic() - self.hold_since < self.HOLD_S

    def _start_jobs(self, results):
        for job in list(self.pending_jobs):
            needed = job.pages_needed(self.page_size)
            if len(self.active_jobs) >= self.max_batch_size or needed > self.free_pages:
                continue
            self.pending_jobs.remove(job)
            self.active_jobs.append(job)
            self.free_pages -= needed
            job.pages = needed
            self._match(job)
            result = {"job": job, "stage": "started", "eos": False, "serial": job.serial_number}
            if job.identifier is not None:
                result["identifier"] = job.identifier
            results.append(result)

    def _match(self, job):
        ids = job.sequences[0].input_ids
        if self.paged:
            job.cached_pages = self._cached_pages(ids)
            return
        common = 0
        for a, b in zip(self.previous, ids):
            if a != b:
                break
            common += 1
        job.cached_tokens = min(common, len(ids) - 1)
        self.previous = list(ids)

    def _cached_pages(self, ids):
        """Full prompt pages (the last token excluded) found by their chained hash."""
        cached, digest, size = 0, b"", self.page_size
        for start in range(0, (len(ids) - 1) // size * size, size):
            digest = hashlib.blake2b(digest + repr(ids[start:start + size]).encode()).digest()
            if digest in self.page_hashes and cached == start // size:
                cached += 1
            self.page_hashes.add(digest)
        return cached

    def _final(self, job, result, reason, **extra):
        self._free(job)
        prompt = len(job.sequences[0].input_ids)
        result.update(eos=True, eos_reason=reason, full_completion=job.text,
                      new_tokens=job.new_tokens, prompt_tokens=prompt,
                      time_enqueued=0.001, time_prefill=0.01,
                      time_generate=0.02 * max(job.new_tokens - 1, 0),
                      cached_pages=job.cached_pages,
                      cached_tokens=job.cached_pages * self.page_size + job.cached_tokens,
                      **extra)
        return result

    def _advance(self, job):
        """One token of `job`: its streaming result."""
        result = {"job": job, "stage": "streaming", "eos": False, "serial": job.serial_number}
        if job.identifier is not None:
            result["identifier"] = job.identifier
        job.new_tokens += 1
        result["token_ids"] = torch.tensor([[100 + job.new_tokens]])
        eos_after = ExLlamaV2DynamicJob.EOS_AFTER
        if eos_after is not None and job.new_tokens == eos_after + 1 and 2 in job.stop_tokens:
            result["token_ids"] = torch.tensor([[2]])
            held = {"text": job.held} if job.held else {}
            job.text += job.held
            return self._final(job, result, "stop_token", held=held)
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
            return self._final(job, result, "stop_string" if stop else "max_new_tokens")
        return result
