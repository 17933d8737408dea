from ragchat.cli.main import main

main()
