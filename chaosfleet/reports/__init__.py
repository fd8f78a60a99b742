"""Reading a run: the journal's typed schema, the terminal table, the HTML report, JUnit.
Built from journals alone, so a report can be rendered wherever a journal can be read."""
