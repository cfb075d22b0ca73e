// live scripts
