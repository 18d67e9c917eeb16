using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Population;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>Reads a run folder for `papa resume` and `papa node --role averager --resume`.</summary>
internal static class RunResumption
{
    /// <summary>
    /// Takes the run folder's lock (<see cref="RunFolderLock"/>, for the caller to hold for the whole run), then reads
    /// the run's own config (config.conf: a resumed run is the same run). A run that completed is refused. Once the
    /// data are loaded, <see cref="StartFrom"/> finds where the run continues.
    /// </summary>
    public static (RunConfig Run, RunFolderLock Lock) Prepare(string runFolder)
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
            EnsureOnlyRunFiles(folder);
            if (!File.Exists(configFile))
                throw new ConfigException($"{folder} is not a run folder: it has no {RunRecorder.ConfigFile}");
            if (ResultsFile.HasCompleted(folder))
                throw new ConfigException($"the run in {folder} has completed; there is nothing to resume");
            return (RunConfig.LoadRecorded(configFile), runLock);
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The start of a run that continues the one in <paramref name="folder"/> under <paramref name="run"/> on
    /// <paramref name="data"/>: its newest valid checkpoint (one from another config or code version is refused, one
    /// that does not fit the run or its model is skipped), or round 0 when there is none. The checkpoints skipped are
    /// printed with the reason.
    /// </summary>
    public static RunStart StartFrom(string folder, RunConfig run, DataSplits data)
    {
        EnsureOnlyRunFiles(folder);
        var store = new CheckpointStore(folder);
        var search = store.FindLatestValid(run.Settings, MemberModel.LayoutOf(run.Settings.Training, data.Shape, data.Classes));
        foreach (var problem in search.Problems)
            AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {problem}");
        var checkpoint = search.Latest is { } latest ? store.Load(latest, run.Identity) : null;
        if (checkpoint is null)
            AnsiConsole.MarkupLineInterpolated($"no valid checkpoint in {folder}: the run starts over from round 0");
        else
            AnsiConsole.MarkupLineInterpolated($"resuming {folder} from the checkpoint of round {checkpoint.Round}");
        return new RunStart(true, checkpoint);
    }

    /// <summary>
    /// A resume reads, appends to and replaces the files of its run folder: each must be what the run wrote there, a
    /// regular file or the checkpoints folder (whose entries the checkpoint store checks), never a link to a file
    /// elsewhere, a FIFO or a device.
    /// </summary>
    private static void EnsureOnlyRunFiles(string folder)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(folder))
        {
            var expected = Path.GetFileName(path) == CheckpointStore.FolderName ? FileKind.Kind.Directory : FileKind.Kind.Regular;
            FileKind.Kind kind;
            try
            {
                kind = FileKind.Of(path, followLinks: false);
            }
            catch (IOException e)
            {
                throw new ConfigException(e.Message, e);
            }
            if (kind != expected)
                throw new ConfigException($"{path}: {FileKind.Describe(kind)}, not a {(expected == FileKind.Kind.Directory ? "directory" : "regular file")}; "
                    + "a run folder holds only the files its run wrote, so it is not resumed");
        }
    }
}
