"""Measurements behind `ragchat bench` (speed) and `ragchat eval` (retrieval and answer quality).

Plain functions and values: no click, no rich. The CLI renders what these return.
"""
