"""Code pipeline operators (after DataFlow CodePipeline) and the execution sandbox."""
