namespace PapaActors.Host;

/// <summary>The exit codes of `papa`.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;
    public const int Interrupted = 130;
}
