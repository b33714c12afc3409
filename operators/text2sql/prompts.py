"""Prompt templates of the Text-to-SQL operators.

Every schema bounds its strings (``maxLength``) and uses enums for labels: the embedded 135M model
loops until ``max_tokens`` otherwise.
"""

from operators.core.prompt import PromptTemplate

_SQL = {"type": "string", "minLength": 8, "maxLength": 400}

SQL_GENERATION = PromptTemplate(
    name="text2sql_sql_generation",
    system="You write correct, read-only SQL queries for the given database. Reply in JSON.",
    template=(
        "Database schema ({dialect}):\n{schema}\n\n"
        "Write one {complexity} SELECT query over these tables that answers a realistic question. "
        "Use only tables and columns from the schema."
    ),
    output_schema={"type": "object", "properties": {"sql": _SQL}, "required": ["sql"]},
)

QUESTION_FROM_SQL = PromptTemplate(
    name="text2sql_question_from_sql",
    system="You turn SQL queries into the natural-language question they answer. Reply in JSON.",
    template=(
        "Database schema:\n{schema}\n\nSQL:\n{sql}\n\n"
        "Write the question a user would ask to get exactly this query's result. Do not mention SQL."
    ),
    output_schema={
        "type": "object",
        "properties": {"question": {"type": "string", "minLength": 8, "maxLength": 240}},
        "required": ["question"],
    },
)

CONSISTENCY = PromptTemplate(
    name="text2sql_consistency",
    system="You check whether a SQL query correctly answers a question. Reply in JSON.",
    template=(
        "Database schema:\n{schema}\n\nQuestion: {question}\nSQL: {sql}\n"
        "First rows of the result:\n{result}\n\nDoes the SQL answer the question?"
    ),
    output_schema={
        "type": "object",
        "properties": {"consistent": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["consistent"],
    },
)

COT = PromptTemplate(
    name="text2sql_cot",
    system="You explain step by step how to write a SQL query for a question, then give the query. Reply in JSON.",
    template=(
        "Database schema:\n{schema}\n\nQuestion: {question}\n\n"
        "Reason about which tables, joins, filters and aggregates are needed, then write the final SQL."
    ),
    output_schema={
        "type": "object",
        "properties": {"reasoning": {"type": "string", "minLength": 10, "maxLength": 400}, "sql": _SQL},
        "required": ["reasoning", "sql"],
    },
)

VARIATION = PromptTemplate(
    name="text2sql_variation",
    system="You rewrite SQL queries into different but related queries on the same database. Reply in JSON.",
    template=(
        "Database schema:\n{schema}\n\nOriginal SQL:\n{sql}\n\n"
        "Write a new SELECT query that {variation}. It must run on this schema."
    ),
    output_schema={"type": "object", "properties": {"sql": _SQL}, "required": ["sql"]},
)

ANSWER_SQL = PromptTemplate(
    name="text2sql_answer",
    system="You write one SQL query that answers the question on the given database. Reply in JSON.",
    template="Database schema:\n{schema}\n\nQuestion: {question}\n\nWrite the SQL query.",
    output_schema={"type": "object", "properties": {"sql": _SQL}, "required": ["sql"]},
)
