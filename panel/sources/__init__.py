"""Sources an editor attaches to a launch: fetched safely (``fetch``), their main text
extracted (``extract``). Nothing here touches the database (see ``panel.store.sources``)."""
