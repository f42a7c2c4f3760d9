from edgegate.cli import main

main()
