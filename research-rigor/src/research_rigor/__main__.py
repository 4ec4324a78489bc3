from research_rigor.cli import main

main()
