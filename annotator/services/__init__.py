"""What the UI and the command line both call: the annotation session, suggestions, training,
reports and the first-run model setup. These orchestrate the domain packages (corpora, ml,
export, team) over the store; none of those packages imports this one."""
