"""{{title}} against the real kernel: page, JSON API, permission, isolation."""


async def test_a_clinician_adds_an_item_and_sees_it(client_for_role):
    async with await client_for_role("clinician") as client:
        added = await client.post("/api/{{dash}}/items", json={"text": "First item"})
        assert added.status_code == 201, added.text
        listed = await client.get("/api/{{dash}}/items")
        assert [i["text"] for i in listed.json()] == ["First item"]
        page = await client.get("/{{dash}}")
        assert page.status_code == 200
        assert "First item" in page.text


async def test_an_empty_item_is_refused_with_the_reason(client_for_role):
    async with await client_for_role("clinician") as client:
        refused = await client.post("/api/{{dash}}/items", json={"text": "  "})
        assert refused.status_code == 400
        assert "text" in refused.json()["detail"]


async def test_a_role_without_the_permission_is_refused(client_for_role):
    async with await client_for_role("biller") as client:
        assert (await client.get("/api/{{dash}}/items")).status_code == 403


async def test_another_clinic_sees_none_of_the_items(client_for_role, make_tenant):
    async with await client_for_role("clinician") as client:
        assert (await client.post("/api/{{dash}}/items", json={"text": "Ours"})).status_code == 201
    other = await make_tenant(plugins=("{{name}}",))
    async with await client_for_role("clinician", tenant=other) as client:
        assert (await client.get("/api/{{dash}}/items")).json() == []


async def test_a_clinic_without_the_plugin_has_no_such_page(client_for_role, make_tenant):
    plain = await make_tenant()
    async with await client_for_role("clinician", tenant=plain) as client:
        assert (await client.get("/api/{{dash}}/items")).status_code == 404
