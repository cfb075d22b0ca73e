// sandbox scripts
