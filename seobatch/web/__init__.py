"""``seobatch web``: the web page for the people who own a site's SEO.

Server-rendered Flask pages over the same database as the pipeline: runs and costs, one
job in full, search-result previews; the review queue slots in once revisions exist.

Modules: ``app`` (the factory, ``create_app``), ``auth`` (users, login, roles, the login
rate limit), ``security`` (CSRF, headers, error pages), ``queries`` (the reads the reports
do not have), ``chart`` and ``preview`` (pure computation for the templates), ``server``
(waitress), ``views/`` (one module per area), ``templates/`` and ``static/`` (package
data). Its users table is ``seobatch.users.WebUser`` (the schema creates it).
"""
