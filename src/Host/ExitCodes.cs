using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Weights;

namespace PapaActors.Host;

/// <summary>The exit codes of `papa`.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;
    public const int Interrupted = 130;

    /// <summary>Exceptions that are bad input (or a machine that cannot run the command): one `error:` line and <see cref="BadInput"/>.</summary>
    public static bool IsBadInput(Exception e) => e is ConfigException or DatasetFormatException or WeightLayoutException or JournalException
        or CheckpointException or FileNotFoundException or ArgumentException or TorchLoadException;
}
