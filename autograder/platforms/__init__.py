"""Where the grader meets its users: nbgrader, Gradescope, PrairieLearn, GitHub Classroom, the student kit and its hand-in."""
