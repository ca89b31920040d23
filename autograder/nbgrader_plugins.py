"""Fixes to nbgrader's preprocessors, configured in nbgrader_config.py."""
from nbgrader.preprocessors import DeduplicateIds


class DropDuplicateIds(DeduplicateIds):
    """nbgrader's DeduplicateIds keeps the last cell of each grade id but leaves `nbgrader: {}` on the copies,
    which CheckCellMetadata then rejects as an old metadata format, failing the whole submission. A student who
    copied a test cell must lose nothing but the copy: drop its nbgrader metadata altogether."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources
