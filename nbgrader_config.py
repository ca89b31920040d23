# nbgrader configuration of the course: the instructor source is solutions/, the student release is assignments/.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "dl-vision"
import os  # noqa: E402

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs", "data", "*.egg-info"]

# The text that replaces a solution region, in notebooks and in the .py modules alike.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Trainings inside notebooks need more than nbgrader's default 30 s per cell.
c.ExecutePreprocessor.timeout = 900
