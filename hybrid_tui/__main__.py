from hybrid_tui.cli import main

main()
