has_flash_attn_with_paged = False


class ExLlamaV2Attention:
    def _attn_torch(self, batch_size, q_len, q_states, k_states, v_states, attn_params, cfg,
                    causal=True):
        raise NotImplementedError("the stand-in computes no attention")
