"""The default executor: Dagster's multi-or-in-process executor, multiprocess steps forked from a
preloaded forkserver unless run config says otherwise."""

import multiprocessing

import pytest

from assets.reference import reference_pipeline
from dataflow_dagster.defs.executor import DEFAULT_EXECUTOR, _default_start_method
from tests.helpers import defs_for


def test_jobs_and_the_asset_graph_use_it(tmp_path):
    defs = defs_for([reference_pipeline()], tmp_path)
    assert defs.resolve_job_def("pretrain_qa_job").executor_def is DEFAULT_EXECUTOR
    assert defs.resolve_implicit_global_asset_job_def().executor_def is DEFAULT_EXECUTOR


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here")
def test_multiprocess_defaults_to_forkserver_and_run_config_still_chooses():
    fork = {"start_method": {"forkserver": {}}}
    assert _default_start_method({}) == {"multiprocess": fork}
    assert _default_start_method({"multiprocess": {"max_concurrent": 2}}) == {
        "multiprocess": {"max_concurrent": 2, **fork}
    }
    spawn = {"multiprocess": {"start_method": {"spawn": {}}}}
    assert _default_start_method(spawn) == spawn
    assert _default_start_method({"in_process": {}}) == {"in_process": {}}
