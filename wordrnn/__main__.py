from wordrnn.cli.main import main

main()
