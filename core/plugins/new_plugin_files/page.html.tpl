{% extends "core/base.html" %}
{% import "core/macros.html" as ui %}
{% block content %}
<h1>{{title}}</h1>
{% call(item) ui.table("Items of " ~ tenant.name, ["Text", "Added"], items, "No items yet.") %}
<tr><td>{{ item.text }}</td><td>{{ item.created_at.date() }}</td></tr>
{% endcall %}
{% endblock %}
