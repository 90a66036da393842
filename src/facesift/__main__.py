from facesift.cli.main import app

app(prog_name="facesift")
