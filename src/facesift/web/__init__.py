"""The server-rendered web app's look: Jinja2 templates (``templates/``) and the static
stylesheet and script (``static/``) that the FastAPI app serves under ``/static``.

Every page runs under a strict Content-Security-Policy (``default-src 'self'; script-src
'self'; style-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'``): no inline
``<script>``, no ``style="..."`` attribute and no ``on...=`` handler anywhere in a template.
"""
