"""File formats a person writes by hand: YAML that remembers its lines
(:mod:`~gearshift.formats.yamlsrc`) and declarative checks with errors that name the file, the line
and the key (:mod:`~gearshift.formats.structs`)."""
