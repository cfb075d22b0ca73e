// console scripts
