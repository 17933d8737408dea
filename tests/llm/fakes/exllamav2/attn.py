has_flash_attn_with_paged = False
