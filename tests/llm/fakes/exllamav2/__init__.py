"""A stand-in for exllamav2 0.3.2 with the same names and result fields, for tests without a GPU.

The generator "writes" the words of a fixed text, one token per word, and reports cached
tokens like the unpaged dynamic generator: the common prefix with the previous job.
"""

import torch

__version__ = "0.3.2-fake"
LOADED: list = []


class ExLlamaV2Config:
    def __init__(self, model_dir):
        self.model_dir = model_dir
        self.max_seq_len = 32768
        self.no_flash_attn = False

    def arch_compat_overrides(self, quiet=False):
        pass


class ExLlamaV2:
    def __init__(self, config):
        self.config = config

    def load_autosplit(self, cache, progress=False):
        if cache.max_seq_len > 1_000_000:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        LOADED.append((self.config.model_dir, type(cache).__name__, cache.max_seq_len))

    def unload(self):
        LOADED.clear()


class ExLlamaV2Cache:
    def __init__(self, model, batch_size=1, max_seq_len=-1, lazy=False):
        assert max_seq_len % 256 == 0 and lazy
        self.max_seq_len = max_seq_len


class ExLlamaV2Cache_Q8(ExLlamaV2Cache):
    pass


class ExLlamaV2Cache_Q6(ExLlamaV2Cache):
    pass


class ExLlamaV2Cache_Q4(ExLlamaV2Cache):
    pass


SPECIAL = {"<|im_start|>": 1, "<|im_end|>": 2, "<|endoftext|>": 3}


def _byte_tokenizer():
    """A real Hugging Face tokenizer, one token per byte, with the ChatML specials added (as
    the models' tokenizer.json files have them)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {**SPECIAL, **{ch: 100 + i for i, ch in enumerate(sorted(alphabet))}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL))
    return tok


class ExLlamaV2TokenizerHF:
    def __init__(self):
        self.hf_tokenizer = _byte_tokenizer()


class ExLlamaV2Tokenizer:
    """As exllamav2 0.3.2's: encode_special_tokens=True splits the text at the special
    pieces; every other piece goes to the HF tokenizer, which matches its added special
    tokens by itself (so False does not make them text)."""

    eos_token_id = 3

    def __init__(self, config):
        self.tokenizer_model = ExLlamaV2TokenizerHF()
        self.extended_piece_to_id = dict(SPECIAL)

    def single_id(self, token):
        return SPECIAL.get(token)

    def encode(self, text, add_bos=False, encode_special_tokens=False):
        import re

        hf = self.tokenizer_model.hf_tokenizer
        pieces = re.split("(" + "|".join(map(re.escape, SPECIAL)) + ")", text) \
            if encode_special_tokens else [text]
        ids = []
        for i, piece in enumerate(pieces):
            ids += [SPECIAL[piece]] if i % 2 else hf.encode(piece, add_special_tokens=False).ids
        return torch.tensor([ids], dtype=torch.long)
