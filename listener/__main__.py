try:
    from listener.cli import main
except KeyboardInterrupt:  # Ctrl-C while the libraries load (seconds on a Pi Zero): nothing ran yet
    raise SystemExit(130) from None

raise SystemExit(main())
