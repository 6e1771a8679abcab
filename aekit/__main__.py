from aekit.cli import main

main()
