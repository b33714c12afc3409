"""Multi-hop QA synthesis for agentic RAG, after DataFlow's AgenticRAG atomic/depth generators:
atomic QA per document -> answer verification against the document -> link each QA to a related
document -> compose a two-hop question whose answer needs both -> verify again.
"""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.rag.metrics import MACROS

ATOMIC_QA = PromptTemplate(
    name="rag_atomic_qa",
    system="You write one factual question whose short answer is stated in the document. Reply in JSON.",
    template=(
        "Document:\n{document}\n\n"
        "Name what the document is about (identifier), then ask one question about a specific fact in it "
        "and give the answer as a short phrase copied from the document."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "identifier": {"type": "string", "minLength": 2, "maxLength": 80},
            "question": {"type": "string", "minLength": 8, "maxLength": 200},
            "answer": {"type": "string", "minLength": 1, "maxLength": 80},
        },
        "required": ["identifier", "question", "answer"],
    },
)

DOC_ANSWER = PromptTemplate(
    name="rag_doc_answer",
    system="You answer questions using only the given documents. Reply in JSON with a short answer.",
    template="Documents:\n{document}\n\nQuestion: {question}\n\nAnswer with a short phrase from the documents.",
    output_schema={
        "type": "object",
        "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 80}},
        "required": ["answer"],
    },
)

MULTIHOP_QA = PromptTemplate(
    name="rag_multihop_qa",
    system="You combine two facts into one question that needs both to answer. Reply in JSON.",
    template=(
        "Fact 1: {question} -> {answer}\n\nSecond document:\n{document}\n\n"
        "Write one question whose answer is in the second document but which refers to the subject of "
        "fact 1 only through fact 1 (so it needs both hops), and its short answer."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 8, "maxLength": 240},
            "answer": {"type": "string", "minLength": 1, "maxLength": 80},
        },
        "required": ["question", "answer"],
    },
)


class AtomicQAConfig(LLMConfig):
    input_key: str = "contents"
    max_tokens: int = 224  # the schema allows 360 characters; a truncated answer is unparsable JSON


@register
class AtomicQAGenerator(LLMOperator):
    """One verifiable atomic QA per document: ``identifier`` (the document's subject), ``question``, ``answer``."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = AtomicQAConfig
    default_prompt = ATOMIC_QA
    domain = "rag"
    tags = ("llm", "qa", "rag", "multihop")


class DocAnswerConfig(LLMConfig):
    input_key: str = "question"
    document_keys: list[str] = ["contents"]
    output_key: str = "golden_doc_answer"
    max_tokens: int = 96  # 80 characters of answer + the JSON around it; 48 truncated real answers


@register
class DocAnswerGenerator(LLMOperator):
    """Answers each row's question from its document(s) into ``output_key``: the reference answer the
    F1/EM evaluators compare the synthesised answer with (DataFlow's golden-doc answer)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = DocAnswerConfig
    default_prompt = DOC_ANSWER
    domain = "rag"
    tags = ("llm", "qa", "rag", "verify")

    def input_columns(self) -> list[str]:
        return [self.config.input_key, *self.config.document_keys]

    output_property = "answer"

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        docs = "\n\n".join(str(row.get(k) or "") for k in self.config.document_keys)
        return {"document": docs, "question": row.get(self.config.input_key)}


class LinkConfig(OpConfig):
    doc_id_key: str = "id"
    contents_key: str = "contents"
    answer_key: str = "answer"
    question_key: str = "question"
    min_token_len: int = 4  # tokens shorter than this (articles, "of", "in") do not link documents
    min_score: float = 0.0


@register
class HopDocumentLinker(Operator):
    """Pairs each QA row with the most related *other* document of the same table (rule, SQL).

    Score = 10 x (distinct tokens of the row's answer and question found in the candidate) + Jaccard
    overlap of the two documents' token sets, so a document mentioning the answer wins and word
    overlap breaks ties; ties after that go to the smaller document id. Adds ``hop2_doc_id``,
    ``hop2_contents`` and ``link_score``. Quadratic in the number of distinct documents: meant for
    per-batch corpora, not millions of documents.
    """

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = LinkConfig
    domain = "rag"
    tags = ("rag", "multihop", "link")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.doc_id_key, c.contents_key, c.answer_key, c.question_key]

    def output_columns(self) -> list[str]:
        return ["hop2_doc_id", "hop2_contents", "link_score"]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        for m in MACROS:
            ctx.con.execute(m)
        c = self.config
        q = quote_ident
        src, n = q(ctx.source or ""), int(c.min_token_len)
        cols = ctx.columns()
        drop = [x for x in (ID, PARENTS) if x in cols]
        ctx.con.execute(
            f"CREATE OR REPLACE TEMP MACRO hop_toks(s) AS list_distinct(list_filter("
            f"qa_tokens(qa_norm(s)), lambda w: length(w) >= {n}))"
        )
        ctx.con.execute(f"""CREATE VIEW {q(ctx.target)} AS
            WITH docs AS (SELECT DISTINCT {q(c.doc_id_key)}::VARCHAR AS d_id, {q(c.contents_key)} AS d_text,
                                 hop_toks({q(c.contents_key)}) AS d_toks FROM {src}),
                 rows AS (SELECT s.*, hop_toks(s.{q(c.contents_key)}) AS __r_doc,
                                 hop_toks(concat_ws(' ', s.{q(c.answer_key)}, s.{q(c.question_key)})) AS __r_qa
                          FROM {src} s),
                 scored AS (SELECT r.*, d.d_id, d.d_text,
                                   10.0 * len(list_intersect(r.__r_qa, d.d_toks))
                                   + len(list_intersect(r.__r_doc, d.d_toks))
                                     / greatest(len(list_distinct(list_concat(r.__r_doc, d.d_toks))), 1) AS __score
                            FROM rows r JOIN docs d ON d.d_id <> r.{q(c.doc_id_key)}::VARCHAR),
                 best AS (SELECT *, row_number() OVER (PARTITION BY {ID} ORDER BY __score DESC, d_id) AS __rank
                          FROM scored)
            SELECT {derived_id_sql(ID, self.fingerprint())} AS {ID}, [{ID}] AS {PARENTS},
                   * EXCLUDE ({
            ", ".join([*[q(x) for x in drop], "__r_doc", "__r_qa", "d_id", "d_text", "__score", "__rank"])
        }),
                   d_id AS hop2_doc_id, d_text AS hop2_contents, round(__score, 4) AS link_score
            FROM best WHERE __rank = 1 AND __score >= {float(c.min_score)!r}""")
        return {}


class MultiHopConfig(LLMConfig):
    input_key: str = "question"
    answer_key: str = "answer"
    document_key: str = "hop2_contents"
    question_out: str = "multihop_question"
    answer_out: str = "multihop_answer"
    max_tokens: int = 224  # the schema allows 320 characters


@register
class MultiHopQAGenerator(LLMOperator):
    """Composes a two-hop question from an atomic QA and the linked second document."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = MultiHopConfig
    default_prompt = MULTIHOP_QA
    domain = "rag"
    tags = ("llm", "qa", "rag", "multihop")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.input_key, c.answer_key, c.document_key]

    def outputs(self) -> dict[str, str]:
        return {"question": self.config.question_out, "answer": self.config.answer_out}

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        c = self.config
        return {"question": row.get(c.input_key), "answer": row.get(c.answer_key), "document": row.get(c.document_key)}
