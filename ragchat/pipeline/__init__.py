"""The conversation pipeline: a LangGraph graph that answers one turn with sources.

contextualize -> (route) -> retrieve -> relevance_check -> llm_answer -> save_memory.
Importing this package is cheap; langgraph and langchain-core load in the modules that use them.
"""
