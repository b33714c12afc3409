"""Conversation and function-calling data: scenarios, tasks, functions, tool-use dialogues, checks."""
