"""The code hashes that make results follow the code (lshbench/code.py): a method's hash covers its module and what it
imports, not the other methods."""

import sys

from lshbench.code import closure, code_hash, method_code


def test_a_methods_code_is_its_module_what_it_imports_and_the_runner():
    kmeans = closure("lshbench.methods.kmeans", "lshbench.batch")
    assert {"lshbench.methods.kmeans", "lshbench.methods.base", "lshbench.candidates", "lshbench.batch",
            "lshbench.evaluate", "lshbench.io", "lshbench.methods.registry"} <= set(kmeans)
    assert "lshbench.methods.hyperplane" not in kmeans and "lshbench.config" not in kmeans
    assert "lshbench.methods.hyperplane" in closure("lshbench.methods.multiprobe")  # built on it


def test_the_hash_follows_every_byte_of_a_module_outside_lshbench_too(tmp_path, monkeypatch):
    plugin = tmp_path / "my_method.py"
    plugin.write_text("from lshbench.methods.base import Index\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = method_code("my_method")
    assert "lshbench.methods.base" in closure("my_method")
    plugin.write_text("from lshbench.methods.base import Index\n# a comment\n")
    from lshbench import code

    code.imported.cache_clear()
    assert method_code("my_method") != before
    assert code_hash("lshbench.methods.kmeans") == code_hash("lshbench.methods.kmeans")
    sys.modules.pop("my_method", None)


def test_a_modules_strings_are_parsed_once_per_version_of_the_file(tmp_path):
    from lshbench import code

    module = tmp_path / "reader.py"
    module.write_text('"""Docs naming old.csv."""\nNAME = "old.csv"\n')
    assert code._strings(module) == ("old.csv",)  # not the docstring
    hits = code._parsed_strings.cache_info().hits
    assert code._strings(module) == ("old.csv",) and code._parsed_strings.cache_info().hits == hits + 1
    module.write_text('"""Docs."""\nNAME = "a_new_name.csv"\n')  # another size: another version
    assert code._strings(module) == ("a_new_name.csv",)
