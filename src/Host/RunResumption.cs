using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Models;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>Reads a run folder for `papa resume` and `papa node --role averager --resume`.</summary>
internal static class RunResumption
{
    /// <summary>
    /// Takes the run folder's lock (<see cref="RunFolderLock"/>, for the caller to hold for the whole run), then reads
    /// the run's own config (config.conf: a resumed run is the same run) and its newest valid checkpoint; the
    /// checkpoints skipped are printed with the reason. A run that completed, or a checkpoint from another
    /// config or code version, is refused.
    /// </summary>
    public static (RunConfig Run, RunStart Start, RunFolderLock Lock) Prepare(string runFolder)
    {
        var folder = Path.GetFullPath(runFolder);
        var configFile = Path.Combine(folder, RunRecorder.ConfigFile);
        // A run's folder has its lock file before its config.conf (an averager writes that once its members came):
        // a writer holding it is named, and no other folder gets a lock file.
        if (!File.Exists(configFile) && !File.Exists(Path.Combine(folder, RunFolderLock.FileName)))
            throw new ConfigException($"{folder} is not a run folder: it has no {RunRecorder.ConfigFile}");
        var runLock = RunFolderLock.Acquire(folder);
        try
        {
            EnsureRegularFiles(folder);
            if (!File.Exists(configFile))
                throw new ConfigException($"{folder} is not a run folder: it has no {RunRecorder.ConfigFile}");
            if (ResultsFile.HasCompleted(folder))
                throw new ConfigException($"the run in {folder} has completed; there is nothing to resume");
            var run = RunConfig.LoadRecorded(configFile);
            return (run, StartFrom(folder, run), runLock);
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The start of a run that continues the one in <paramref name="folder"/> under <paramref name="run"/>: its
    /// newest valid checkpoint (one from another config or code version is refused), or round 0 when there is none.
    /// </summary>
    public static RunStart StartFrom(string folder, RunConfig run)
    {
        EnsureRegularFiles(folder);
        var store = new CheckpointStore(folder);
        var search = store.FindLatestValid(run.Settings);
        foreach (var problem in search.Problems)
            AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {problem}");
        var checkpoint = search.Latest is { } latest ? store.Load(latest, run.Identity) : null;
        if (checkpoint is null)
            AnsiConsole.MarkupLineInterpolated($"no valid checkpoint in {folder}: the run starts over from round 0");
        else
            AnsiConsole.MarkupLineInterpolated($"resuming {folder} from the checkpoint of round {checkpoint.Round}");
        return new RunStart(true, checkpoint);
    }

    /// <summary>The files a resume reads or appends to: what the run wrote there, never a link to or a FIFO from elsewhere.</summary>
    private static readonly string[] RecordedFiles =
        [RunRecorder.ConfigFile, ScheduleJournal.FileName, RunRecorder.MetricsFile, RunRecorder.FaultsFile, ResultsFile.Name, NLogSetup.LogFile];

    private static void EnsureRegularFiles(string folder)
    {
        foreach (var path in RecordedFiles.Select(name => Path.Combine(folder, name)))
        {
            FileKind.Kind kind;
            try
            {
                kind = FileKind.Of(path, followLinks: false);
            }
            catch (IOException e)
            {
                throw new ConfigException(e.Message, e);
            }
            if (kind is not (FileKind.Kind.Missing or FileKind.Kind.Regular))
                throw new ConfigException($"{path}: {FileKind.Describe(kind)}, not a regular file; a run folder holds only the files its run wrote, so it is not resumed");
        }
    }
}
