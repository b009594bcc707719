"""`python -m darkdev.evaluate`: evaluation's command line (code in darkdev/training/)."""

from darkdev.training.cli import evaluate_main as main

if __name__ == "__main__":
    raise SystemExit(main())
