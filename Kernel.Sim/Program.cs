namespace PoolKernel.Sim;

public static class Program
{
    public static int Main(string[] args) => SimCommand.Run(args, Console.Out, Console.Error);
}
