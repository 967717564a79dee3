/* placeholder: the dashboard helper writes this */
