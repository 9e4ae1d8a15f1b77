from modelreg.cli.main import app

app()
