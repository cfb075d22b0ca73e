// quizzes scripts
