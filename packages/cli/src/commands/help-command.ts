import { CommanderError, type Command } from 'commander';

/**
 * `help [command…]`: the help of any command, nested ones included (`help member add`), the
 * same text as `<command> --help`. Replaces commander's own help command, which stops at the
 * first word.
 */
export function addHelpCommand(program: Command): void {
  program.helpCommand(false);
  program
    .command('help')
    .description('show the help of a command (help member add), or list the commands')
    .argument('[command...]', 'the command')
    .action((words: string[]) => {
      let command = program;
      for (const word of words) {
        const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (sub === undefined) {
          const known = command.commands.map((c) => c.name()).filter((n) => n !== 'help');
          program.error(`unknown command '${[...words.slice(0, words.indexOf(word)), word].join(' ')}' (commands: ${known.join(', ')})`, { code: 'commander.unknownCommand' });
        }
        command = sub;
      }
      command.outputHelp();
      // Like --help: stop here, successfully.
      throw new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)');
    });
}
