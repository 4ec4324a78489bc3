from {{ cookiecutter.package_name }}.experiments.cli import main

main()
