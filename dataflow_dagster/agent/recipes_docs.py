"""Document recipes: multi-hop RAG QA, knowledge extraction from files, function-calling dialogues.

Each mirrors a shipped pipeline (``assets/agentic_rag.py``, ``assets/knowledge.py``,
``assets/function_calling.py``) and DataFlow's own chain for the domain, cut to what the request
asks: the steps the contract needs (a linker before a two-hop question, a chunker before chunk QA,
tasks before functions before dialogues) are always there and named as contract in the notes;
optional steps (answer verification, LLM cleaning, the tool-call check, judges) only when asked.
"""

import re

from dataflow_dagster.agent.intent import Intent
from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.agent.recipe_plan import RecipePlan, column, has
from dataflow_dagster.core.pipeline import Step
from operators.core.rowids import ID

_FILE_COLUMNS = ("path", "file", "filename", "file_path", "url")
_MULTIHOP = r"multi[- ]?hop|two[- ]hop|2[- ]hop|\bhops?\b|across (?:these |the )?documents|\brag\b"
_VERIFY_ANSWER = (
    r"\bf1\b|answer (?:it|them|each|the question)s? from|verif(?:y|ied|ies|ication)\b|exact match|\bem\b|"
    r"reference answer"
)
_DEPTH = r"\bdeep\w*|\bdepth|\brounds?\b|harder versions?|more difficult versions?"
DOC_COLUMNS = ("contents", "content", "document", "doc", "passage", "text", "chunk")


def rag_multihop(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Documents -> atomic QA (-> document answer -> F1 -> keep verified) -> linked document -> two-hop QA."""
    text = intent.request
    if has(text, _DEPTH) and has(text, r"\brag\b|agentic|question"):
        return _rag_depth(data)
    if not has(text, _MULTIHOP) or any(c in data.columns for c in _FILE_COLUMNS):
        return None  # files to ingest first: the knowledge recipe's multi-hop branch (DataFlow's KBC)
    from operators.core.generic import ThresholdFilter
    from operators.rag.metrics import QAF1Evaluator
    from operators.rag.multihop import AtomicQAGenerator, DocAnswerGenerator, HopDocumentLinker, MultiHopQAGenerator

    doc = column(data, DOC_COLUMNS)
    doc_id = next((c for c in ("id", "doc_id", "document_id") if c in data.columns), ID)
    steps = [Step("atomic", AtomicQAGenerator(input_key=doc))]
    notes = ["contract: HopDocumentLinker added because MultiHopQAGenerator reads a second, linked document"]
    if has(text, _VERIFY_ANSWER):
        steps += [
            Step("doc_answer", DocAnswerGenerator(input_key="question", document_keys=[doc])),
            Step("atomic_f1", QAF1Evaluator(prediction_key="golden_doc_answer", golden_key="answer")),
            Step("verified", ThresholdFilter(input_key="F1Score", min_value=0.3)),
        ]
        notes.append("verification: the document's own answer scored by token F1 against the atomic answer")
    steps += [
        Step("link", HopDocumentLinker(doc_id_key=doc_id, contents_key=doc)),
        Step("multihop", MultiHopQAGenerator()),
    ]
    if doc_id == ID:
        notes.append(f"no document id column: documents are linked by the row id {ID}")
    claims = re.compile(rf"{_MULTIHOP}|{_VERIFY_ANSWER}|\bqa\b|question", re.I)  # "keep pairs whose F1 ..."
    return RecipePlan("rag_multihop", steps, [doc] + ([doc_id] if doc_id != ID else []), notes, claims=claims)


def _rag_depth(data: DataProfile) -> RecipePlan:
    """Documents -> atomic QA -> successively deeper questions (DataFlow's agentic RAG depth chain)."""
    from operators.rag.depth import AgenticRAGDepthQAGenerator
    from operators.rag.multihop import AtomicQAGenerator

    doc = column(data, DOC_COLUMNS)
    question = next((c for c in ("question", "query") if c in data.columns), None)
    steps = [] if question else [Step("atomic", AtomicQAGenerator(input_key=doc))]
    steps.append(Step("deeper", AgenticRAGDepthQAGenerator(input_key=question or "question")))
    notes = [] if question else ["contract: AtomicQAGenerator added because the depth rounds start from a question"]
    claims = re.compile(rf"{_DEPTH}|\bqa\b|question|agentic|\brag\b", re.I)
    return RecipePlan("rag_depth", steps, [question or doc], notes, claims=claims)


_KB = (
    r"knowledge|\bkbc\b|\bchunks?\b|\bparse\b|convert (?:them|the \w+|these \w+) to (?:text|markdown)|\bkb\b|"
    r"知识|切分|分块|切块"
)
_PIECES = r"(?:chunks?|pieces?|segments?|passages?|parts?|windows?)"
_CHUNK_SIZE = re.compile(
    rf"(\d+)[- ](word|token|char\w*)s?[- ]{_PIECES}|{_PIECES} of (\d+) (word|token|char\w*)|"
    r"(\d+)\s*(字|词)的?(?:块|段|片)",
    re.I,
)


def knowledge_docs(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Files (or document texts) -> text -> chunks (-> LLM clean) -> QA pairs (-> SFT table)."""
    text = intent.request
    path_col = next((c for c in _FILE_COLUMNS if c in data.columns), None)
    if not has(text, _KB) and not (path_col and has(text, r"\bdocuments?\b|\bfiles?\b")):
        return None
    from operators.knowledge.chunk import TextChunker
    from operators.knowledge.clean import LLMKnowledgeCleaner
    from operators.knowledge.ingest import FileIngestor
    from operators.knowledge.sft_table import ChunkQAExtractor, SFTTableAssembler

    steps: list[Step] = []
    notes: list[str] = []
    if path_col is not None:
        base = str(data.path.resolve().parent)
        steps.append(Step("ingest", FileIngestor(input_key=path_col, base_dir=base)))
        notes.append(f"contract: FileIngestor added because '{path_col}' holds file paths (resolved against {base})")
        body = "text"
    else:
        body = column(data, DOC_COLUMNS)
    m = _CHUNK_SIZE.search(text)
    size = int(m.group(1) or m.group(3) or m.group(5)) if m else 200
    unit_word = (m.group(2) or m.group(4) or m.group(6) or "").lower() if m else ""
    unit = "characters" if unit_word.startswith("char") or unit_word == "字" else "words"
    steps.append(Step("chunk", TextChunker(input_key=body, unit=unit, size=size)))
    if has(text, r"\bclean\w*|清洗|清理"):
        steps.append(Step("llm_clean", LLMKnowledgeCleaner(input_key="chunk")))
    if has(text, _MULTIHOP):  # DataFlow's KBC: multi-hop QA per chunk, flattened to instruction rows
        from operators.knowledge.qa_extract import QAExtractor
        from operators.rag.text_multihop import Text2MultiHopQAGenerator

        steps.append(Step("multihop_qa", Text2MultiHopQAGenerator(input_key="chunk")))
        if has(text, r"\bsft\b|instruction|fine-?tun|flatten|微调|指令"):
            steps.append(Step("sft", QAExtractor()))
    elif has(text, r"\bqa\b|question|\bsft\b|instruction|fine-?tun|问答|微调|指令"):
        steps.append(Step("qa", ChunkQAExtractor(input_key="chunk")))
        if has(text, r"\bsft\b|instruction|fine-?tun|微调|指令"):
            steps.append(Step("sft", SFTTableAssembler(instruction_key="question", output_key="answer")))
    if len(steps) == (path_col is not None) + 1 and not has(text, r"\bchunks?\b|split|\bcut\b"):
        notes.append("no QA, cleaning or SFT asked: the documents are only turned into chunks")
    claims = re.compile(rf"{_KB}|split|\bcut\b|\bclean\w*|\bqa\b|question", re.I)
    return RecipePlan("knowledge_docs", steps, [path_col or body], notes, claims=claims)


_FUNC_CALL = r"function[- ]call\w*|tool[- ](?:use|using|call\w*)|tool calls?|\bapi[- ]call\w*|func[- ]?call"


def function_calling(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Chats -> scenario -> atomic tasks -> sequential tasks -> functions -> dialogues (-> check -> judge)."""
    text = intent.request
    if not has(text, _FUNC_CALL):
        return None
    from operators.conversations.checker import ToolCallCheckFilter
    from operators.conversations.dialogues import FuncCallConversationSampleEvaluator, MultiTurnConversationGenerator
    from operators.conversations.functions import FunctionGenerator
    from operators.conversations.tasks import AtomTaskGenerator, ScenarioExtractGenerator, SequentialTaskGenerator

    chat = column(data, ("chat", "conversation", "dialogue", "messages", "text"))
    steps = [
        Step("scenario", ScenarioExtractGenerator(input_key=chat)),
        Step("atom_task", AtomTaskGenerator(input_key="scenario")),
        Step("sequential", SequentialTaskGenerator(input_key="atom_task")),
        Step("functions", FunctionGenerator()),
        Step("dialogues", MultiTurnConversationGenerator()),
    ]
    notes = [
        "contract: scenario, atomic and sequential task steps added because FunctionGenerator and "
        "MultiTurnConversationGenerator read the composed task and its sub-tasks"
    ]
    if has(text, r"\bvalid\w*|\bcheck\w*|verif\w*|keep only|schema|correct"):
        steps.append(Step("check", ToolCallCheckFilter()))
    if has(text, r"\bscor\w*|\brat(?:e|ed|ing)\b|judge|quality"):
        steps.append(Step("judge", FuncCallConversationSampleEvaluator(min_parsed_share=0.5)))
    claims = re.compile(rf"{_FUNC_CALL}|\bvalid\w*|\bcheck\w*|schema", re.I)
    return RecipePlan("function_calling", steps, [chat], notes, claims=claims)
