async def test_tenant_home_and_platform_home(make_tenant, client_for):
    tenant = await make_tenant(plugins=("sample",), name="Riverside PT")
    async with client_for(tenant.slug) as client:
        response = await client.get("/")
    assert response.status_code == 200, response.text
    assert "Riverside PT" in response.text
    assert 'href="/sample/notes"' in response.text
    async with client_for(None) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "Tessera platform" in response.text
