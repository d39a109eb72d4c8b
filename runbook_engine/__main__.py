from runbook_engine.cli import main

main()
