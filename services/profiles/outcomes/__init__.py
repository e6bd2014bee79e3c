"""After the introduction: a match's life, reminders' links, reports and learning."""
